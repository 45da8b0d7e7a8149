package testenv_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wirespeed/wirespeed/internal/testenv"
)

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return &net.AddrError{Err: "unexpected reply " + line, Addr: addr}
	}
	return nil
}

func TestStartRedisKillRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	r.Kill()
	r.Kill() // idempotent
	if err := redisPing(r.Addr); err == nil {
		t.Fatal("ping answered after Kill")
	}
	r.Restart()
	if err := redisPing(r.Addr); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}
