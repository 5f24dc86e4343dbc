package filepool

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/proc"
)

// journal keeps one directory's times while the pass replaces entries in
// it: written to tmp/dir-<pid>-<rand> before the first rename, set back
// and removed after the last (see doc.go, crash order).
type journal struct {
	pool  *Pool
	dir   string
	dirfd int
	st    unix.Stat_t // the directory's stat before the pass
	file  string      // the journal file, once begun
}

// dirTimes is a journal file's content.
type dirTimes struct {
	Path  string   `json:"path"`
	Atime [2]int64 `json:"atime"`
	Mtime [2]int64 `json:"mtime"`
}

func (j *journal) begin() error {
	if j == nil || j.file != "" {
		return nil
	}
	b, err := json.Marshal(dirTimes{
		Path:  j.dir,
		Atime: [2]int64{j.st.Atim.Sec, j.st.Atim.Nsec},
		Mtime: [2]int64{j.st.Mtim.Sec, j.st.Mtim.Nsec},
	})
	if err != nil {
		return err
	}
	name := j.pool.tmpName("dir")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return fmt.Errorf("write dedupe journal: %w", err)
	}
	j.file = name
	return nil
}

// end puts the directory's times back if entries were replaced.
func (j *journal) end() error {
	if j.file == "" {
		return nil
	}
	ts := []unix.Timespec{j.st.Atim, j.st.Mtim}
	if err := unix.UtimesNanoAt(j.dirfd, ".", ts, 0); err != nil {
		return fmt.Errorf("set times of %s back: %w", j.dir, err)
	}
	err := os.Remove(j.file)
	j.file = ""
	return err
}

func (p *Pool) tmpName(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(p.root, "tmp", kind+"-"+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(b[:]))
}

// leftovers lists tmp/ files of processes that are gone.
func (p *Pool) leftovers() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.root, "tmp"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		_, rest, _ := strings.Cut(e.Name(), "-")
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid > 0 && proc.Alive(pid) {
			continue
		}
		out = append(out, filepath.Join(p.root, "tmp", e.Name()))
	}
	return out, nil
}

// Recover finishes what dedupe passes of dead processes left: it sets the
// times of the directories they were changing back and removes their
// temporary links. It returns how many leftovers it handled.
func (p *Pool) Recover() (int, error) {
	left, err := p.leftovers()
	if err != nil {
		return 0, fmt.Errorf("recover file pool: %w", err)
	}
	var errs []error
	for _, f := range left {
		if strings.HasPrefix(filepath.Base(f), "dir-") {
			if err := restoreTimes(f); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(left), fmt.Errorf("recover file pool: %w", err)
	}
	return len(left), nil
}

func restoreTimes(journalFile string) error {
	b, err := os.ReadFile(journalFile)
	if err != nil {
		return err
	}
	var dt dirTimes
	if err := json.Unmarshal(b, &dt); err != nil || dt.Path == "" {
		return nil // cut short before it was whole: no rename followed it
	}
	ts := []unix.Timespec{{Sec: dt.Atime[0], Nsec: dt.Atime[1]}, {Sec: dt.Mtime[0], Nsec: dt.Mtime[1]}}
	err = unix.UtimesNanoAt(unix.AT_FDCWD, dt.Path, ts, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil // the snapshot was removed since
	}
	if err != nil {
		return fmt.Errorf("set times of %s back: %w", dt.Path, err)
	}
	return nil
}
