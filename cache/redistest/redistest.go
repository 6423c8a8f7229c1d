// Package redistest runs real redis-server processes for tests, on free
// 127.0.0.1 ports, stopped with the test. Nothing in it is a mock.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one running redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	done chan error
	t    testing.TB
	aof  bool
	dir  string // kept across restarts: an AOF server replays it
}

// Start runs a redis-server without persistence for t.
func Start(t testing.TB) *Server { return start(t, false) }

// StartAOF runs a redis-server with an append-only file synced every
// second (Redis' default), which a Restart after Kill replays.
func StartAOF(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, aof bool) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: apt-get install -y redis-server (.ci/run does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, t: t, aof: aof, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	_, port, _ := net.SplitHostPort(s.Addr)
	appendonly := "no"
	if s.aof {
		appendonly = "yes"
	} else {
		s.dir = s.t.TempDir() // an empty restart
	}
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", appendonly,
		"--appendfsync", "everysec", "--dir", s.dir)
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not answer within 10 s\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Kill stops the server as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a killed server again on the same port: empty, or with
// what its append-only file holds (StartAOF).
func (s *Server) Restart() { s.start() }

// Pause freezes the server (SIGSTOP): connections stay open, nothing
// answers. Resume thaws it.
func (s *Server) Pause()  { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// KillClients closes every client connection (CLIENT KILL), as a network
// cut would.
func (s *Server) KillClients() int {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	n, _ := c.ClientKillByFilter(context.Background(), "TYPE", "normal", "SKIPME", "yes").Result()
	return int(n)
}

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// StartCluster runs a Redis Cluster of n masters (no replicas) for t and
// returns their addresses.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is not installed: apt-get install -y redis-server (.ci/run does)")
	}
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--cluster-node-timeout", "2000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		c := redis.NewClient(&redis.Options{Addr: addr})
		deadline := time.Now().Add(10 * time.Second)
		for c.Ping(context.Background()).Err() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s did not answer", addr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.Close()
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must see the whole cluster before it is used: one node
	// saying ok while another still answers CLUSTERDOWN made the edge's first
	// writes fail (and be dropped, as a sick Redis's are).
	want := [][]byte{[]byte("cluster_state:ok"), []byte("cluster_slots_ok:16384"), []byte("cluster_known_nodes:" + strconv.Itoa(n))}
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			ok := err == nil
			for _, w := range want {
				ok = ok && bytes.Contains([]byte(info), w)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s did not see the whole cluster: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return addrs
}
