package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"imgedge/internal/testaddr"
)

// fleetBlocks is the README's "Running a fleet" commands: its indented
// blocks that set their ports first.
func fleetBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	start := strings.Index(s, "\n## Running a fleet\n")
	end := strings.Index(s[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("no Running a fleet section in the README")
	}
	var blocks []string
	var cur []string
	for _, line := range strings.Split(s[start:start+1+end], "\n") {
		if strings.HasPrefix(line, "    ") {
			cur = append(cur, line[4:])
			continue
		}
		if len(cur) > 0 && strings.HasPrefix(cur[0], `: "${`) {
			blocks = append(blocks, strings.Join(cur, "\n"))
		}
		cur = nil
	}
	if len(blocks) != 2 {
		t.Fatalf("found %d fleet command blocks in the README, want 2 (Redis, Redis Cluster)", len(blocks))
	}
	return blocks
}

// The README's fleet commands, run as written on free ports: two nodes share
// a Redis (then a Redis Cluster); a source changes and one purge on node 1
// makes both nodes answer the new bytes within the purge's bound.
func TestREADMEFleetCommands(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (.ci/setup tests installs it)")
	}
	digest := regexp.MustCompile(`(?m)^([0-9a-f]{64})  -$`)
	for i, block := range fleetBlocks(t) {
		name := []string{"redis", "cluster"}[i]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := []string{"NODE1=" + testaddr.Addr(t), "ADMIN1=" + testaddr.Addr(t), "NODE2=" + testaddr.Addr(t), "ADMIN2=" + testaddr.Addr(t)}
			if name == "redis" {
				env = append(env, "REDIS_PORT="+testaddr.Port(t))
			} else {
				env = append(env, "CLUSTER_PORT="+strconv.Itoa(testaddr.Ports(t, 0, 1, 2, 10000, 10001, 10002)))
			}
			cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", block)
			// The README's environment is the reader's: none of the test's own
			// IMGEDGE_ variables.
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "IMGEDGE_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the README's %s fleet commands failed: %v\n%s", name, err, out)
			}
			sums := digest.FindAllStringSubmatch(string(out), -1)
			if len(sums) != 3 {
				t.Fatalf("%d digests printed, want 3\n%s", len(sums), out)
			}
			if before, one, two := sums[0][1], sums[1][1], sums[2][1]; one != two || one == before {
				t.Errorf("after the purge node 1 and node 2 answered %s and %s (before: %s): want the same new bytes\n%s", one[:12], two[:12], before[:12], out)
			}
			if !strings.Contains(string(out), `"scope":"fleet"`) {
				t.Errorf("the purge did not answer for the fleet\n%s", out)
			}
			if !regexp.MustCompile(`(?im)^cache-status: imgedge; (hit|fwd=)`).Match(out) {
				t.Errorf("node 2's Cache-Status was not printed\n%s", out)
			}
		})
	}
}
