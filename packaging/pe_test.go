package packaging

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
)

// Resource types (winuser.h) the Windows build must carry.
const (
	rtIcon      = 3
	rtVersion   = 16
	rtGroupIcon = 14
	rtManifest  = 24
)

// peResource is one leaf of a PE resource tree: type, name and language
// IDs (0 for a string name, which this walker does not resolve) and the
// data.
type peResource struct {
	typ, name, lang uint32
	data            []byte
}

// peResources walks the .rsrc section of f (PE/COFF spec, "The .rsrc
// Section"): three levels of IMAGE_RESOURCE_DIRECTORY (type, name,
// language), each followed by 8-byte entries whose high bit says whether
// they point at a subdirectory; leaves are IMAGE_RESOURCE_DATA_ENTRY
// holding the data's RVA and size. Written out here rather than taken
// from the library that wrote the resources, so the test does not trust
// the code under test.
func peResources(f *pe.File) ([]peResource, error) {
	sec := f.Section(".rsrc")
	if sec == nil {
		return nil, fmt.Errorf("no .rsrc section")
	}
	raw, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .rsrc: %w", err)
	}
	le := binary.LittleEndian
	var out []peResource
	var walk func(off uint32, depth int, ids [3]uint32) error
	walk = func(off uint32, depth int, ids [3]uint32) error {
		if depth > 2 {
			return fmt.Errorf("resource tree deeper than 3 levels at %#x", off)
		}
		if int(off)+16 > len(raw) {
			return fmt.Errorf("resource directory at %#x past the section end", off)
		}
		n := int(le.Uint16(raw[off+12:])) + int(le.Uint16(raw[off+14:])) // named + ID entries
		for i := range n {
			e := off + 16 + uint32(8*i)
			if int(e)+8 > len(raw) {
				return fmt.Errorf("resource entry at %#x past the section end", e)
			}
			id, target := le.Uint32(raw[e:]), le.Uint32(raw[e+4:])
			if id&0x80000000 != 0 {
				id = 0 // a string name; Sluice's resources use IDs except "APP"
			}
			ids[depth] = id
			if target&0x80000000 != 0 {
				if err := walk(target&0x7fffffff, depth+1, ids); err != nil {
					return err
				}
				continue
			}
			if int(target)+16 > len(raw) {
				return fmt.Errorf("data entry at %#x past the section end", target)
			}
			rva, size := le.Uint32(raw[target:]), le.Uint32(raw[target+4:])
			start := int64(rva) - int64(sec.VirtualAddress)
			if start < 0 || start+int64(size) > int64(len(raw)) {
				return fmt.Errorf("resource data RVA %#x+%d outside .rsrc", rva, size)
			}
			out = append(out, peResource{typ: ids[0], name: ids[1], lang: ids[2], data: raw[start : start+int64(size)]})
		}
		return nil
	}
	if err := walk(0, 0, [3]uint32{}); err != nil {
		return nil, err
	}
	return out, nil
}
