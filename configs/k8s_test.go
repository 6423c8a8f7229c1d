package configs

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests holds every object of configs/k8s, decoded strictly into the
// Kubernetes API types: an unknown or misspelt field, or a value of the
// wrong type, fails here, offline, as the API server would refuse it.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			var obj any
			var name func() string
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				d := &appsv1.Deployment{}
				obj, name = d, func() string { m.deployments[d.Name] = d; return d.Name }
			case "v1 Service":
				s := &corev1.Service{}
				obj, name = s, func() string { m.services[s.Name] = s; return s.Name }
			case "v1 ConfigMap":
				c := &corev1.ConfigMap{}
				obj, name = c, func() string { m.configMaps[c.Name] = c; return c.Name }
			case "policy/v1 PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				obj, name = p, func() string { m.pdbs[p.Name] = p; return p.Name }
			default:
				t.Fatalf("%s #%d: %s %s is not a kind this test checks; add it", f, i, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s #%d (%s): %v", f, i, head.Kind, err)
			}
			if name() == "" {
				t.Errorf("%s #%d: %s without a name", f, i, head.Kind)
			}
		}
	}
	return m
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// namedPort resolves a probe's port to the container's port number.
func namedPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// TestKubernetesManifests: the manifests decode as the API would take them,
// the edge's config in the ConfigMap loads and validates, the probes ask
// the admin listener's /healthz and /readyz, the memory limit covers the
// budgets, the grace period covers the drain, and every selector and
// reference finds what it points at.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	d, ok := m.deployments["imgedge"]
	if !ok {
		t.Fatal("no imgedge Deployment")
	}
	pod := d.Spec.Template
	if !selects(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("the Deployment's selector does not match its pods")
	}
	c := pod.Spec.Containers[0]

	// The config the container is started with.
	cm := m.configMaps[pod.Spec.Volumes[0].ConfigMap.Name]
	if cm == nil || len(c.Args) != 2 || c.Args[0] != "-config" {
		t.Fatalf("the container is not started with -config from the ConfigMap: %v", c.Args)
	}
	mount := ""
	for _, vm := range c.VolumeMounts {
		if vm.Name == pod.Spec.Volumes[0].Name {
			mount = vm.MountPath
		}
	}
	file := strings.TrimPrefix(c.Args[1], mount+"/")
	body, ok := cm.Data[file]
	if mount == "" || !ok {
		t.Fatalf("-config %s is not a key of ConfigMap %s mounted at %s", c.Args[1], cm.Name, mount)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s: secrets come from a Secret, never the manifest", e.Name)
		}
		env = append(env, e.Name+"=placeholder-secret-0123456789abcdef") // what the Secret holds
	}
	cfg, err := Load(path, env)
	if err != nil {
		t.Fatalf("the edge's config in the ConfigMap: %v", err)
	}

	// Probes on the admin listener.
	_, adminPort, _ := net.SplitHostPort(cfg.AdminListen)
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || fmt.Sprint(namedPort(c, probe.HTTPGet.Port)) != adminPort {
			t.Errorf("probe for %s: %+v; want GET %s on admin port %s", want, probe, want, adminPort)
		}
	}
	// Memory: both cache tiers, the transform budget, Go's room beyond the
	// tiers and the resting process fit under the limit.
	limit := c.Resources.Limits.Memory().Value()
	need := int64(cfg.Cache.Memory+cfg.Cache.MemoryOriginals+cfg.Transform.MemoryBudget) + GoHeapRoom + RestingMemory
	if limit < need {
		t.Errorf("memory limit %d MiB, the budgets and the process need %d MiB", limit>>20, need>>20)
	}
	if req := c.Resources.Requests.Memory().Value(); req != limit {
		t.Errorf("memory request %d differs from the limit %d: the pod can be evicted under pressure", req, limit)
	}
	// The drain fits in the grace period.
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace <= cfg.Server.DrainTimeout.D() {
		t.Errorf("terminationGracePeriodSeconds %s is not above server.drain_timeout %s", grace, cfg.Server.DrainTimeout)
	}
	// Service and PDB find the pods; the PDB leaves a rollout room.
	svc := m.services["imgedge"]
	if svc == nil || !selects(svc.Spec.Selector, pod.Labels) {
		t.Error("the imgedge Service does not select the edge's pods")
	}
	pdb := m.pdbs["imgedge"]
	if pdb == nil || !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) || pdb.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
		t.Error("the PodDisruptionBudget does not cover the pods with room to drain one")
	}
	// The Redis the config names is the one deployed.
	if cfg.Redis.URL != "" {
		u, err := url.Parse(cfg.Redis.URL)
		if err != nil {
			t.Fatal(err)
		}
		rs := m.services[u.Hostname()]
		rd := m.deployments[u.Hostname()]
		if rs == nil || rd == nil || !selects(rs.Spec.Selector, rd.Spec.Template.Labels) || fmt.Sprint(rs.Spec.Ports[0].Port) != u.Port() {
			t.Errorf("redis.url %s names no Service selecting a Redis Deployment on that port", cfg.Redis.URL)
		}
	}
}

// TestManifestStrictness: the check refuses what the API server would, so
// the test above can fail.
func TestManifestStrictness(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 3}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: three}\n",
	} {
		if err := yaml.UnmarshalStrict([]byte(doc), &appsv1.Deployment{}); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// TestSystemdUnit: the unit starts the binary with a config, reloads with
// SIGHUP and stops with a timeout above the drain.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("systemd/imgedge.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for line := range strings.Lines(string(raw)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	def, _ := Default()
	stop, err := time.ParseDuration(keys["TimeoutStopSec"] + "s")
	if err != nil || stop <= def.Server.DrainTimeout.D() {
		t.Errorf("TimeoutStopSec %q is not above server.drain_timeout %s", keys["TimeoutStopSec"], def.Server.DrainTimeout)
	}
	if !strings.Contains(keys["ExecStart"], "imgedge -config ") || !strings.Contains(keys["ExecReload"], "-HUP") {
		t.Errorf("ExecStart %q, ExecReload %q", keys["ExecStart"], keys["ExecReload"])
	}
}
