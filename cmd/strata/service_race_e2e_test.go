package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEngineAPIStartRightAfterAttach: docker run's order over raw HTTP,
// with start sent the moment the attach's 101 arrives, as the docker CLI
// does. The server answered the attach before it held the connection for
// the start, so a start in between ran the container detached: no output
// on the stream and a client that hung (5 of 30 runs here before the fix).
func TestEngineAPIStartRightAfterAttach(t *testing.T) {
	_, _, host := dockerService(t)
	sock := strings.TrimPrefix(host, "unix://")
	hc := unixHTTP(host)
	for i := 0; i < 25; i++ {
		resp, err := hc.Post("http://x/v1.50/containers/create", "application/json",
			strings.NewReader(`{"Image":"bb","Cmd":["echo","hi"],"AttachStdout":true,"HostConfig":{"AutoRemove":true,"NetworkMode":"none"}}`))
		if err != nil {
			t.Fatal(err)
		}
		var created struct{ Id string }
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %v", resp.StatusCode, err)
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1.50/containers/%s/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", created.Id)
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("attach's answer: %v", err)
			}
			if line == "\r\n" {
				break
			}
		}
		resp, err = hc.Post("http://x/v1.50/containers/"+created.Id+"/start", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("start: %d", resp.StatusCode)
		}
		// (a bound on a hang, not a timing: the run takes milliseconds)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		out, err := io.ReadAll(br)
		conn.Close()
		if err != nil || !bytes.Contains(out, []byte("hi\n")) {
			t.Fatalf("run %d: the attached stream got %q (%v): the start did not find its attach", i, out, err)
		}
	}
}

// unixHTTP is an HTTP client whose every request goes to the Engine API at
// host (unix://PATH, as dockerService gives it), for tests that speak the
// API raw (no docker CLI).
func unixHTTP(host string) *http.Client {
	sock := strings.TrimPrefix(host, "unix://")
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}
