// Command udpecho answers each UDP datagram on 127.0.0.1:PORT with "echo: "
// and the datagram: a UDP server for the -p /udp tests, built static and
// bind-mounted into a busybox container (whose nc has no UDP).
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: udpecho PORT")
		os.Exit(2)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_, _ = pc.WriteTo(append([]byte("echo: "), buf[:n]...), from)
	}
}
