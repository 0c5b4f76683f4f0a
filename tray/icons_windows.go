package tray

import "github.com/sluiceproxy/sluice/assets"

// icon is one state's image in the forms systray.SetTemplateIcon takes;
// Windows draws the regular one.
type icon struct{ template, regular []byte }

// iconFor picks the state's icon: .ico files holding several sizes, so
// the notification area has a sharp one at every display scale.
func iconFor(s State) icon {
	switch s {
	case StateOn:
		return icon{assets.IconOnICO, assets.IconOnICO}
	case StateError:
		return icon{assets.IconErrorICO, assets.IconErrorICO}
	default:
		return icon{assets.IconOffICO, assets.IconOffICO}
	}
}
