package assets

import "embed"

// The icon files under icons/ and packaging/darwin/sluice.icns are drawn by
// internal/gen and committed, so builds never run the generator. After
// changing the drawing, run `go generate ./assets` and commit the output;
// TestCommittedIconsMatchGenerator in internal/gen fails until you do.
//go:generate go run ./internal/gen -out . -icns ../packaging/darwin/sluice.icns

// Tray icons for the three states, as 32×32 PNG: a grey badge when the
// system proxy does not point at Sluice, a blue one when it does, a red one
// with an exclamation mark when the listener or the config failed. Linux
// tray hosts (StatusNotifierItem) scale them to the panel.
var (
	//go:embed icons/tray/off_32.png
	IconOff []byte
	//go:embed icons/tray/on_32.png
	IconOn []byte
	//go:embed icons/tray/error_32.png
	IconError []byte
)

// The same tray icons as Windows .ico files holding 16 to 64 px images, so
// that the notification area picks a sharp one at every display scale.
var (
	//go:embed icons/tray/off.ico
	IconOffICO []byte
	//go:embed icons/tray/on.ico
	IconOnICO []byte
	//go:embed icons/tray/error.ico
	IconErrorICO []byte
)

// macOS template variants of the tray icons, as 32×32 PNG (the menu bar's
// 16 pt at 2x): black on transparent, without the coloured badge. macOS
// tints a template image for light and dark menu bars, so the state shows
// in the shape (gate raised, lowered, or an exclamation mark).
var (
	//go:embed icons/tray/template_off_32.png
	TemplateOff []byte
	//go:embed icons/tray/template_on_32.png
	TemplateOn []byte
	//go:embed icons/tray/template_error_32.png
	TemplateError []byte
)

// AppIcon is the application icon as a 256×256 PNG, for windows, dialogs
// and notifications.
//
//go:embed icons/app/sluice_256.png
var AppIcon []byte

// Icons holds every icon file, for callers that need another size:
// icons/app/sluice_{16,22,24,32,48,64,128,256,512}.png,
// icons/app/sluice.ico, icons/tray/{off,on,error}_{22,32,64}.png,
// icons/tray/{off,on,error}.ico and
// icons/tray/template_{off,on,error}_{16,32}.png.
//
//go:embed icons
var Icons embed.FS
