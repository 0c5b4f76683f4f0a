package sysproxy

import (
	"slices"
	"testing"
	"unicode/utf8"
)

func TestGVariantParsesWhatGsettingsPrints(t *testing.T) {
	strs := []struct{ in, want string }{
		{`'manual'`, "manual"},
		{`''`, ""},
		{`"it's"`, "it's"},
		{`'a\'b'`, "a'b"},
		{`'back\\slash'`, `back\slash`},
		{`'tab\there'`, "tab\there"},
		{`'\u00e9t\u00e9'`, "été"},
		{`'\U0001F600'`, "😀"},
	}
	for _, c := range strs {
		got, err := gvString(c.in)
		if err != nil || got != c.want {
			t.Errorf("gvString(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	arrays := []struct {
		in   string
		want []string
	}{
		{`@as []`, []string{}},
		{`[]`, []string{}},
		{`['localhost', '127.0.0.0/8', '::1']`, []string{"localhost", "127.0.0.0/8", "::1"}},
		{`['a', "b'c", 'd\\e']`, []string{"a", "b'c", `d\e`}},
	}
	for _, c := range arrays {
		got, err := gvStrings(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("gvStrings(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	ints := []struct {
		in   string
		want int64
	}{{"3128", 3128}, {"0", 0}, {"int32 8080", 8080}, {"uint32 5", 5}}
	for _, c := range ints {
		got, err := gvInt(c.in)
		if err != nil || got != c.want {
			t.Errorf("gvInt(%s) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`'open`, `manual`, `'a' 'b'`, `['a' 'b']`, `['a',`, `'\u12'`} {
		if _, err := gvString(bad); err == nil {
			if _, err := gvStrings(bad); err == nil {
				t.Errorf("%s parsed; want an error", bad)
			}
		}
	}
}

func TestGVariantQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "corp.example", "it's", `a\b`, "new\nline", "\x01ctl", "été", `"dq"`} {
		got, err := gvString(gvQuote(s))
		if err != nil || got != s {
			t.Errorf("gvString(gvQuote(%q)) = %q, %v", s, got, err)
		}
	}
	list := []string{"localhost", "*.local", "it's"}
	got, err := gvStrings(gvQuoteStrings(list))
	if err != nil || !slices.Equal(got, list) {
		t.Errorf("array round trip = %q, %v", got, err)
	}
	if q := gvQuoteStrings(nil); q != "@as []" {
		t.Errorf("empty array is %s, want @as []", q)
	}
}

func FuzzGVariantQuote(f *testing.F) {
	for _, s := range []string{"", "a'b", `\`, "\u00e9", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip()
		}
		got, err := gvString(gvQuote(s))
		if err != nil || got != s {
			t.Fatalf("gvString(gvQuote(%q)) = %q, %v", s, got, err)
		}
	})
}
