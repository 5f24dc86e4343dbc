package engine

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Info is what strata info and the API's /info report, from one place.
type Info struct {
	Containers, ContainersRunning, ContainersPaused, ContainersStopped int
	Images                                                             int
	Driver, RootDir                                                    string
	CgroupDriver, CgroupVersion                                        string
	DefaultRuntime, LoggingDriver                                      string
	KernelVersion, OperatingSystem, OSType, Architecture               string
	NCPU                                                               int
	MemTotal                                                           int64
	Name, ServerVersion                                                string
}

// Info gathers the store's counts and the host's facts docker info shows.
func (e *Engine) Info(ctx context.Context) (Info, error) {
	in := Info{
		Driver: e.Driver(), RootDir: e.Root(), CgroupDriver: "cgroupfs", CgroupVersion: "1",
		DefaultRuntime: "runc", LoggingDriver: "json-file",
		KernelVersion: KernelVersion(), OperatingSystem: osName(), OSType: goruntime.GOOS,
		Architecture: goruntime.GOARCH, NCPU: goruntime.NumCPU(), ServerVersion: version,
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		in.CgroupVersion = "2"
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		in.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	in.Name, _ = os.Hostname()
	imgs, err := e.ListImages(ctx)
	if err != nil {
		return in, err
	}
	ids := map[string]bool{}
	for _, i := range imgs {
		ids[i.ID.String()] = true
	}
	in.Images = len(ids)
	ctrs, err := e.ListContainers(ctx, ContainerListOptions{All: true})
	if err != nil {
		return in, err
	}
	for _, c := range ctrs {
		in.Containers++
		switch c.State {
		case StatusRunning:
			in.ContainersRunning++
		case StatusPaused:
			in.ContainersPaused++
		default:
			in.ContainersStopped++
		}
	}
	return in, nil
}

// osName reads PRETTY_NAME from os-release, as dockerd's info does.
func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}
