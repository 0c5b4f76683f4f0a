//go:build !windows

package tray

import "github.com/sluiceproxy/sluice/assets"

// icon is one state's image in the forms systray.SetTemplateIcon takes:
// macOS draws the template, every other OS the regular one.
type icon struct{ template, regular []byte }

// iconFor picks the state's icon: PNG badges (tray hosts scale them), and
// black-on-transparent templates that macOS tints for the menu bar.
func iconFor(s State) icon {
	switch s {
	case StateOn:
		return icon{assets.TemplateOn, assets.IconOn}
	case StateError:
		return icon{assets.TemplateError, assets.IconError}
	default:
		return icon{assets.TemplateOff, assets.IconOff}
	}
}
