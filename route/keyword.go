package route

// keywords matches domain-keyword: rules, substrings of the host name,
// with an Aho–Corasick automaton built once per config: one pass over the
// host whatever the number of keywords. The automaton is a full DFA over
// byte classes (the bytes keywords use, plus one class for every other
// byte), so each host byte costs one table read; a host name uses few
// distinct bytes, so the table stays small (states × classes × 4 bytes).
// Each state holds the lowest rule index among the keywords that end
// there, its own or through its failure links.
type keywords struct {
	class   [256]uint8
	classes int
	// next[state*classes+class] is the next state's row, state*classes
	// (so that a step is one add and one load, no multiply), with hasOut
	// set when a keyword ends there, so that out is read only then.
	next []int32
	out  []int32 // lowest rule ending at the state, or -1
}

// hasOut marks a transition into a state where a keyword ends.
const hasOut = 1 << 30

type keyword struct {
	word string
	rule int32
}

// newKeywords builds the automaton. Keywords are lower case.
func newKeywords(words []keyword) *keywords {
	if len(words) == 0 {
		return nil
	}
	k := &keywords{classes: 1} // class 0: bytes no keyword uses
	for _, w := range words {
		for i := 0; i < len(w.word); i++ {
			if k.class[w.word[i]] == 0 {
				k.class[w.word[i]] = uint8(k.classes)
				k.classes++
			}
		}
	}
	// The trie: goto edges, -1 for none yet.
	newState := func() int32 {
		for range k.classes {
			k.next = append(k.next, -1)
		}
		k.out = append(k.out, -1)
		return int32(len(k.out) - 1)
	}
	newState()
	for _, w := range words {
		s := int32(0)
		for i := 0; i < len(w.word); i++ {
			e := int(s)*k.classes + int(k.class[w.word[i]])
			if k.next[e] < 0 {
				n := newState()
				k.next[e] = n
			}
			s = k.next[e]
		}
		if k.out[s] < 0 || w.rule < k.out[s] {
			k.out[s] = w.rule
		}
	}
	// Breadth first: fill missing edges from the failure state's, and
	// inherit its output.
	fail := make([]int32, len(k.out))
	queue := make([]int32, 0, len(k.out))
	for c := 0; c < k.classes; c++ {
		if t := k.next[c]; t < 0 {
			k.next[c] = 0
		} else {
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := fail[s]
		if o := k.out[f]; o >= 0 && (k.out[s] < 0 || o < k.out[s]) {
			k.out[s] = o
		}
		for c := 0; c < k.classes; c++ {
			e := int(s)*k.classes + c
			if t := k.next[e]; t < 0 {
				k.next[e] = k.next[int(f)*k.classes+c]
			} else {
				fail[t] = k.next[int(f)*k.classes+c]
				queue = append(queue, t)
			}
		}
	}
	for e, t := range k.next {
		row := t * int32(k.classes)
		if k.out[t] >= 0 {
			row |= hasOut
		}
		k.next[e] = row
	}
	return k
}

// match returns the lowest rule index whose keyword occurs in host (lower
// case), or -1.
func (k *keywords) match(host []byte) int32 {
	if k == nil {
		return -1
	}
	best := int32(-1)
	s := int32(0)
	for _, c := range host {
		s = k.next[int(s&^hasOut)+int(k.class[c])]
		if s&hasOut != 0 {
			if o := k.out[int(s&^hasOut)/k.classes]; best < 0 || o < best {
				best = o
			}
		}
	}
	return best
}
