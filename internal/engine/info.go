package engine

import (
	"context"
	"os"
	goruntime "runtime"

	"github.com/strata-project/strata/internal/host"
	"github.com/strata-project/strata/internal/runtime"
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
		KernelVersion: host.Kernel(), OperatingSystem: host.OSName(), OSType: goruntime.GOOS,
		Architecture: goruntime.GOARCH, NCPU: goruntime.NumCPU(), MemTotal: host.MemTotal(), ServerVersion: version,
	}
	if runtime.Cgroups().V2 {
		in.CgroupVersion = "2"
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
