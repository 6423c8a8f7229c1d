// Package s3test runs a real S3-compatible server for tests: versitygw over
// a temporary folder, on a free 127.0.0.1 port, checking SigV4 signatures
// with one access key. Tests that need S3 start one each and stop it with
// the test; nothing in it is a mock.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"imgedge/internal/testaddr"
)

// Module is the versitygw the tests run, built from the Go module proxy once
// per machine when it is not on PATH (.ci/run installs it first).
const Module = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Access and Secret are the server's root credentials.
const (
	Access = "imgedge-test-access"
	Secret = "imgedge-test-secret-0123456789abcdef"
)

// Server is one running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Client   *s3.Client
	cmd      *exec.Cmd
	port     string
	root     string
	done     chan error
	t        testing.TB
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary finds versitygw, installing it with go install when absent.
func binary() (string, error) {
	binOnce.Do(func() {
		if p, err := exec.LookPath("versitygw"); err == nil {
			binPath = p
			return
		}
		gopath, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			binErr = err
			return
		}
		p := filepath.Join(strings.TrimSpace(strings.Split(string(gopath), ":")[0]), "bin", "versitygw")
		if _, err := os.Stat(p); err != nil {
			if out, err := exec.Command("go", "install", Module).CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go install %s: %v\n%s", Module, err, out)
				return
			}
		}
		binPath = p
	})
	return binPath, binErr
}

// Start runs a server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := binary(); err != nil {
		t.Fatalf("the S3 server for this test: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"data", "meta"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := testaddr.Addr(t)
	s := &Server{Endpoint: "http://" + port, port: port, root: root, t: t}
	s.start()
	t.Cleanup(s.Stop)
	s.Client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(Access, Secret, ""),
	})
	return s
}

func (s *Server) start() {
	bin, _ := binary()
	s.cmd = exec.Command(bin, "--access", Access, "--secret", Secret, "--port", s.port,
		"posix", "--sidecar", filepath.Join(s.root, "meta"), filepath.Join(s.root, "data"))
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(s.cmd, s.done)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not answer within 20 s: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would); Restart brings it back on the
// same port with the same data.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a stopped server again.
func (s *Server) Restart() { s.start() }

// Bucket creates a bucket.
func (s *Server) Bucket(name string) {
	s.t.Helper()
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// MetaFile is where the server keeps one attribute of an object apart
// from its data (its sidecar metadata: "etag", ...), for tests that leave an
// object in a state a PUT passes through.
func (s *Server) MetaFile(bucket, key, attribute string) string {
	return filepath.Join(s.root, "meta", bucket, key, "meta", attribute)
}

// Put stores body under key with the given Cache-Control ("" for none).
func (s *Server) Put(bucket, key string, body []byte, cacheControl string) {
	s.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	if cacheControl != "" {
		in.CacheControl = aws.String(cacheControl)
	}
	if _, err := s.Client.PutObject(context.Background(), in); err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// PutDir stores every regular file of dir under prefix.
func (s *Server) PutDir(bucket, prefix, dir, cacheControl string) int {
	s.t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s.Put(bucket, prefix+filepath.ToSlash(rel), body, cacheControl)
		n++
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// Env is the environment an edge needs to read from this server with the
// standard AWS chain: ChainEnv and the endpoint.
func (s *Server) Env() []string {
	return append(ChainEnv(), "IMGEDGE_S3_ENDPOINT="+s.Endpoint, "IMGEDGE_S3_PATH_STYLE=true")
}

// ChainEnv is what the AWS chain reads from the process environment: every
// server's credentials, which are the same, and nothing of the machine's
// own (shared files, instance roles). A test package sets it once in
// TestMain, so that tests reading several servers can run in parallel.
func ChainEnv() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + Access, "AWS_SECRET_ACCESS_KEY=" + Secret, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
}
