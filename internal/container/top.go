package container

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// Top is docker top: the host's ps (with psArgs, "-ef" by default) cut to
// the container's processes, as the column titles and one row of fields a
// process. As docker's daemon does, the rows are matched on the PID column,
// and the last column keeps its spaces (the command line).
func (s *Store) Top(ctx context.Context, ref string, psArgs []string) (titles []string, procs [][]string, err error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	if st, err := s.Status(ctx, c.ID); err != nil || !st.Running {
		return nil, nil, fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	pids, err := s.runc.Pids(ctx, c.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: %w", c.Name, err)
	}
	in := map[string]bool{}
	for _, p := range pids {
		in[strconv.Itoa(p)] = true
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.CommandContext(ctx, "ps", psArgs...).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: ps %s: %w", c.Name, strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	titles = strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return nil, nil, fmt.Errorf("top %s: ps %s shows no PID column: %w", c.Name, strings.Join(psArgs, " "), errdefs.ErrInvalidArgument)
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol || !in[f[pidCol]] {
			continue
		}
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		procs = append(procs, f)
	}
	return titles, procs, nil
}
