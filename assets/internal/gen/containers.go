package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
)

// encodePNG returns img as PNG bytes.
func encodePNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return b.Bytes(), nil
}

// ico builds a Windows .ico container holding one PNG-compressed entry per
// image. PNG entries are valid since Windows Vista and keep the file small;
// every entry is 32-bit RGBA.
//
// Layout (all little endian): ICONDIR {reserved=0, type=1, count}, then
// count ICONDIRENTRY {width, height (0 means 256), colours=0, reserved=0,
// planes=1, bit count=32, size, offset}, then the image data.
func ico(imgs []image.Image) ([]byte, error) {
	const dirSize, entrySize = 6, 16
	var head, data bytes.Buffer
	le := binary.LittleEndian
	head.Write(le.AppendUint16(nil, 0))
	head.Write(le.AppendUint16(nil, 1))
	head.Write(le.AppendUint16(nil, uint16(len(imgs))))
	offset := dirSize + entrySize*len(imgs)
	for _, img := range imgs {
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		if w > 256 || h > 256 {
			return nil, fmt.Errorf("ico entry %dx%d: at most 256x256 fits an ICONDIRENTRY", w, h)
		}
		p, err := encodePNG(img)
		if err != nil {
			return nil, err
		}
		head.WriteByte(byte(w)) // 256 wraps to 0, which means 256
		head.WriteByte(byte(h))
		head.WriteByte(0) // palette colours: none
		head.WriteByte(0) // reserved
		head.Write(le.AppendUint16(nil, 1))
		head.Write(le.AppendUint16(nil, 32))
		head.Write(le.AppendUint32(nil, uint32(len(p))))
		head.Write(le.AppendUint32(nil, uint32(offset+data.Len())))
		data.Write(p)
	}
	return append(head.Bytes(), data.Bytes()...), nil
}

// icnsTypes lists the .icns entry types that hold PNG data, with their
// pixel sizes (Apple's icns types since macOS 10.7). Several sizes appear
// twice, once as a 1x slot and once as the 2x slot of half the size;
// Finder picks by type, so both are filled.
func icnsTypes() []struct {
	code string
	px   int
} {
	return []struct {
		code string
		px   int
	}{
		{"icp4", 16},   // 16×16
		{"icp5", 32},   // 32×32
		{"icp6", 64},   // 64×64
		{"ic07", 128},  // 128×128
		{"ic08", 256},  // 256×256
		{"ic09", 512},  // 512×512
		{"ic10", 1024}, // 512×512@2x
		{"ic11", 32},   // 16×16@2x
		{"ic12", 64},   // 32×32@2x
		{"ic13", 256},  // 128×128@2x
		{"ic14", 512},  // 256×256@2x
	}
}

// icns builds a macOS .icns container: the magic "icns" and the total
// length (big endian), then entries of a four-byte type, a length that
// counts its own eight-byte header, and PNG data. draw renders the icon at
// a pixel size.
func icns(draw func(n int) image.Image) ([]byte, error) {
	var body bytes.Buffer
	be := binary.BigEndian
	for _, t := range icnsTypes() {
		p, err := encodePNG(draw(t.px))
		if err != nil {
			return nil, err
		}
		body.WriteString(t.code)
		body.Write(be.AppendUint32(nil, uint32(8+len(p))))
		body.Write(p)
	}
	out := []byte("icns")
	out = be.AppendUint32(out, uint32(8+body.Len()))
	return append(out, body.Bytes()...), nil
}
