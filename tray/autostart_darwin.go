package tray

// NewAutostart returns the LaunchAgent for the given command line.
func NewAutostart(exec []string) (Autostart, error) {
	return NewLaunchAgent(exec)
}
