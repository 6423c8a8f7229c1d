// Package redistest runs real redis-server processes for tests, on free
// 127.0.0.1 ports, stopped with the test. Nothing in it is a mock.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"imgedge/internal/testaddr"
)

// Server is one running redis-server.
type Server struct {
	Addr  string
	cmd   *exec.Cmd
	done  chan error
	t     testing.TB
	aof   bool
	dir   string   // kept across restarts: an AOF server replays it, a cluster node keeps its nodes.conf
	extra []string // more arguments (a cluster node's)
}

// Start runs a redis-server without persistence for t.
func Start(t testing.TB) *Server { return start(t, false, nil) }

// StartAOF runs a redis-server with an append-only file synced every
// second (Redis' default), which a Restart after Kill replays.
func StartAOF(t testing.TB) *Server { return start(t, true, nil) }

func start(t testing.TB, aof bool, extra func(dir string) []string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: apt-get install -y redis-server (.ci/run does)")
	}
	s := &Server{Addr: testaddr.Addr(t), t: t, aof: aof, dir: t.TempDir()}
	if extra != nil {
		s.extra = extra(s.dir)
	}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	_, port, _ := net.SplitHostPort(s.Addr)
	appendonly := "no"
	if s.aof {
		appendonly = "yes"
	}
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", appendonly,
		"--appendfsync", "everysec", "--dir", s.dir}, s.extra...)
	s.cmd = exec.Command("redis-server", args...)
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)
	c := Client(s.t, s.Addr)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Do(context.Background(), c.B().Ping().Build()).Error() != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not answer within 10 s\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Client is a client of the one server at addr (a cluster node is asked
// directly, not the cluster), for a test's own commands: rueidis, the
// client the fleet uses, with its client-side cache off. The caller closes
// it.
func Client(t testing.TB, addr string) rueidis.Client {
	t.Helper()
	// A single client comes back even when its first dial fails (the
	// server may still be starting), beside that error: each command dials
	// again, and reports what is wrong then.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if c == nil {
		t.Fatal(err)
	}
	return c
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

// RestartEmpty starts a killed server again with no data at all (its
// append-only files removed; a cluster node keeps its nodes.conf).
func (s *Server) RestartEmpty() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "nodes.conf" {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	s.start()
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing
// answers. Resume thaws it.
func (s *Server) Pause()  { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *Server) Resume() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

// KillClients closes every client connection (CLIENT KILL), as a network
// cut would.
func (s *Server) KillClients() int {
	c := Client(s.t, s.Addr)
	defer c.Close()
	n, _ := c.Do(context.Background(), c.B().Arbitrary("CLIENT", "KILL").Args("TYPE", "normal", "SKIPME", "yes").Build()).AsInt64()
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
	var addrs []string
	for _, s := range StartClusterServers(t, n) {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// StartClusterServers is StartCluster with the masters' servers, which a
// test may pause, kill and restart (a restarted master keeps its slots).
func StartClusterServers(t testing.TB, n int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is not installed: apt-get install -y redis-server (.ci/run does)")
	}
	var servers []*Server
	var addrs []string
	for range n {
		s := start(t, false, func(dir string) []string {
			// The bus port is chosen too: port+10000, Redis' default,
			// may be in the kernel's ephemeral range or past 65535.
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000",
				"--cluster-port", testaddr.Port(t)}
		})
		servers = append(servers, s)
		addrs = append(addrs, s.Addr)
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
		c := Client(t, addr)
		for {
			info, err := c.Do(context.Background(), c.B().ClusterInfo().Build()).ToString()
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
	return servers
}
