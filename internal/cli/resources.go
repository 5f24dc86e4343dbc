package cli

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// resourceFlags are docker's resource flags, shared by run, create and
// update. Values are kept as typed so that a bad one is reported by
// apply (run and create exit 125 on it) rather than by flag parsing.
type resourceFlags struct {
	memory, memorySwap, memoryReservation string
	cpus, cpuShares, cpusetCpus           string
	pidsLimit, shmSize                    string
	ulimits                               []string
	oomKillDisable                        bool
}

// addResourceFlags adds the flags; update has no --ulimit, --shm-size or
// --oom-kill-disable (docker's update has none either).
func addResourceFlags(fs *pflag.FlagSet, f *resourceFlags, update bool) {
	str := func(p *string, name, short, typ, usage string) {
		fs.VarP(&typedString{p: p, typ: typ}, name, short, usage)
	}
	str(&f.memory, "memory", "m", "bytes", "memory limit (64m, 1g)")
	str(&f.memorySwap, "memory-swap", "", "bytes", "memory plus swap limit (-1: unlimited swap; default: twice --memory)")
	str(&f.memoryReservation, "memory-reservation", "", "bytes", "memory soft limit")
	str(&f.cpus, "cpus", "", "decimal", "number of CPUs (0.5: half a CPU's time)")
	str(&f.cpuShares, "cpu-shares", "c", "int", "CPU shares (relative weight; default 1024)")
	str(&f.cpusetCpus, "cpuset-cpus", "", "string", "CPUs in which to allow execution (0-3, 0,1)")
	str(&f.pidsLimit, "pids-limit", "", "int", "limit the number of processes (-1: unlimited)")
	if update {
		return
	}
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "ulimit: NAME=SOFT[:HARD] (nofile=1024:2048)")
	str(&f.shmSize, "shm-size", "", "bytes", "size of /dev/shm (default 64m)")
	fs.BoolVar(&f.oomKillDisable, "oom-kill-disable", false, "disable the OOM killer (cgroup v1 only)")
}

// apply sets the flags the user gave onto r, leaving the others as they
// are (update changes only what it is given). The engine checks the
// result (ranges, memory against swap, CPUs of this host).
func (f *resourceFlags) apply(fs *pflag.FlagSet, r *engine.Resources) error {
	size := func(name, v string, minusOne bool) (int64, error) {
		if minusOne && v == "-1" {
			return -1, nil
		}
		n, err := units.RAMInBytes(v)
		if err != nil || n < 0 {
			extra := ""
			if minusOne {
				extra = ", or -1 for unlimited"
			}
			return 0, fmt.Errorf("invalid argument %q for --%s: want a size: a number with an optional unit b, k, m or g (64m, 1.5g)%s: %w", v, name, extra, errdefs.ErrInvalidArgument)
		}
		return n, nil
	}
	integer := func(name, v, what string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid argument %q for --%s: want %s: %w", v, name, what, errdefs.ErrInvalidArgument)
		}
		return n, nil
	}
	var err error
	changed := fs.Changed
	if changed("memory") {
		if r.Memory, err = size("memory", f.memory, false); err != nil {
			return err
		}
	}
	if changed("memory-swap") {
		if r.MemorySwap, err = size("memory-swap", f.memorySwap, true); err != nil {
			return err
		}
	}
	if changed("memory-reservation") {
		if r.MemoryReservation, err = size("memory-reservation", f.memoryReservation, false); err != nil {
			return err
		}
	}
	if changed("cpus") {
		if r.NanoCPUs, err = parseNanoCPUs(f.cpus); err != nil {
			return err
		}
	}
	if changed("cpu-shares") {
		if r.CPUShares, err = integer("cpu-shares", f.cpuShares, "a non-negative integer weight (default 1024)"); err != nil {
			return err
		}
	}
	if changed("cpuset-cpus") {
		r.CpusetCpus = f.cpusetCpus
	}
	if changed("pids-limit") {
		if r.PidsLimit, err = integer("pids-limit", f.pidsLimit, "an integer number of processes (-1: unlimited)"); err != nil {
			return err
		}
	}
	if changed("shm-size") {
		if r.ShmSize, err = size("shm-size", f.shmSize, false); err != nil {
			return err
		}
	}
	if changed("oom-kill-disable") {
		r.OomKillDisable = f.oomKillDisable
	}
	for _, v := range f.ulimits {
		u, err := units.ParseUlimit(v)
		if err != nil {
			return fmt.Errorf("invalid argument %q for --ulimit: want NAME=SOFT[:HARD] with NAME one of %s (nofile=1024:2048): %w", v, strings.Join(engine.RlimitNames(), ", "), errdefs.ErrInvalidArgument)
		}
		// A later --ulimit of the same name replaces the earlier, as docker's.
		kept := r.Ulimits[:0:0]
		for _, o := range r.Ulimits {
			if o.Name != u.Name {
				kept = append(kept, o)
			}
		}
		r.Ulimits = append(kept, u)
	}
	return nil
}

// parseNanoCPUs parses --cpus as docker does: a decimal number of CPUs,
// exact to a billionth.
func parseNanoCPUs(v string) (int64, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid argument %q for --cpus: want a number of CPUs such as 0.5 or 2%s: %w", v, why, errdefs.ErrInvalidArgument)
	}
	r, ok := new(big.Rat).SetString(v)
	if !ok || len(v) > 64 {
		return 0, bad("")
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, bad(" (at most 9 decimal places)")
	}
	if !nano.Num().IsInt64() {
		return 0, bad(" (too large)")
	}
	return nano.Num().Int64(), nil
}

// typedString keeps a flag's text for apply to parse (so that a bad value
// is run's exit 125, not a flag error), with docker's type name in help.
type typedString struct {
	p   *string
	typ string
}

func (t *typedString) Set(v string) error { *t.p = v; return nil }
func (t *typedString) String() string     { return *t.p }
func (t *typedString) Type() string       { return t.typ }
