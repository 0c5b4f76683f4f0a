package alert

import "strings"

// notifyCommand is the command line that shows a notification on goos
// (darwin or windows).
func notifyCommand(goos, title, body string) []string {
	if goos == "darwin" {
		// AppleScript string literals escape \ and " with a backslash.
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
		return []string{"osascript", "-e", `display notification "` + q.Replace(body) + `" with title "` + q.Replace(title) + `"`}
	}
	// A toast through the Windows Runtime, shown under PowerShell's own
	// application ID (an unregistered one shows nothing). PowerShell
	// single-quoted strings escape ' by doubling it.
	q := strings.NewReplacer(`'`, `''`)
	script := `[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] | Out-Null; ` +
		`$x = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02); ` +
		`$t = $x.GetElementsByTagName('text'); ` +
		`$t.Item(0).AppendChild($x.CreateTextNode('` + q.Replace(title) + `')) | Out-Null; ` +
		`$t.Item(1).AppendChild($x.CreateTextNode('` + q.Replace(body) + `')) | Out-Null; ` +
		`[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\WindowsPowerShell\v1.0\powershell.exe').Show([Windows.UI.Notifications.ToastNotification]::new($x))`
	return []string{"powershell", "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden", "-Command", script}
}
