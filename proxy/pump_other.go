//go:build !linux

package proxy

// splicer is empty where there is no splice: every pump uses a buffer.
type splicer struct{}

func (p *pump) openSplice() bool { return false }

func (p *pump) closeSplice() {}

func (p *pump) load(b []byte) error {
	p.loadBuf(b)
	return nil
}

func (p *pump) read(want int) error { return p.readBuf(want) }

func (p *pump) write() (int, error) { return p.writeBuf() }
