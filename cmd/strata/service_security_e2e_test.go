package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestEngineAPISecurityHostConfig: a raw Engine API client (no docker CLI
// to fill in defaults) gives a device by its host path only and tmpfs
// mounts as a map; the container gets docker's defaults (the same path
// inside, rwm) and inspect shows them as docker's does.
func TestEngineAPISecurityHostConfig(t *testing.T) {
	_, root, host := dockerService(t)
	hc := unixHTTP(host)
	resp, err := hc.Post("http://x/v1.50/containers/create?name=secapi", "application/json", strings.NewReader(
		`{"Image":"bb","Cmd":["true"],"HostConfig":{"NetworkMode":"none","Devices":[{"PathOnHost":"/dev/zero"}],"Tmpfs":{"/b":"size=1m","/a":""}}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	t.Cleanup(func() { strata(t, root, "rm", "-f", "secapi") })
	out := mustStrata(t, root, "inspect", "--format", "{{json .HostConfig.Devices}} {{json .HostConfig.Tmpfs}}", "secapi")
	devs, tmpfs, _ := strings.Cut(strings.TrimSpace(out), " ")
	var d []map[string]string
	if err := json.Unmarshal([]byte(devs), &d); err != nil || len(d) != 1 ||
		d[0]["PathOnHost"] != "/dev/zero" || d[0]["PathInContainer"] != "/dev/zero" || d[0]["CgroupPermissions"] != "rwm" {
		t.Errorf("devices: %s (%v)", devs, err)
	}
	if tmpfs != `{"/a":"","/b":"size=1m"}` {
		t.Errorf("tmpfs: %s", tmpfs)
	}
}
