// Command relay is a reference TCP relay for the transfer experiments
// (drive.py), to compare Sluice with the simplest relay Go allows:
// -mode splice uses io.Copy between *net.TCPConn (Go's splice path);
// -mode buf copies through a user-space buffer of -buf bytes.
package main

import (
	"flag"
	"io"
	"log"
	"net"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "")
	to := flag.String("to", "", "")
	mode := flag.String("mode", "splice", "splice|buf")
	bufSize := flag.Int("buf", 32<<10, "")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			u, err := net.Dial("tcp", *to)
			if err != nil {
				c.Close()
				return
			}
			cp := func(dst, src net.Conn) {
				if *mode == "splice" {
					io.Copy(dst, src)
				} else {
					b := make([]byte, *bufSize)
					io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, b)
				}
				dst.(*net.TCPConn).CloseWrite()
			}
			go cp(u, c)
			cp(c, u)
			c.Close()
			u.Close()
		}()
	}
}
