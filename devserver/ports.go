package devserver

import (
	"fmt"
	"net"
	"strconv"
)

// portPicker hands out TCP ports. Every probed port is kept listening until
// release, so one Start never hands the same ephemeral port out twice. There
// is an unavoidable window between release and the server binding the port,
// in which another process could grab it; in practice this is harmless on a
// developer machine.
type portPicker struct {
	held []net.Listener
}

// pick returns the wanted port when it is > 0. With wanted == 0 it tries
// fallback (if > 0) and, when that is busy, a free port chosen by the OS.
// An explicitly wanted port that is busy is an error.
func (p *portPicker) pick(host string, wanted, fallback int) (int, error) {
	if wanted > 0 {
		if err := p.hold(host, wanted); err != nil {
			return 0, fmt.Errorf("port %d on %s is not available: %w", wanted, host, err)
		}
		return wanted, nil
	}
	if fallback > 0 && p.hold(host, fallback) == nil {
		return fallback, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	p.held = append(p.held, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *portPicker) hold(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	p.held = append(p.held, l)
	return nil
}

// release closes all probe listeners so the real servers can bind.
func (p *portPicker) release() {
	for _, l := range p.held {
		_ = l.Close()
	}
	p.held = nil
}

// portFree reports whether host:port can be bound right now.
func portFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// dialHost returns an address clients can connect to for a server bound on
// host: the unspecified addresses (0.0.0.0, ::, "") map to loopback.
func dialHost(host string) string {
	if host == "" {
		return "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsUnspecified() {
		if ip.To4() == nil {
			return "::1"
		}
		return "127.0.0.1"
	}
	return host
}
