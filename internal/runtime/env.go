package runtime

import "strings"

// The one home of KEY=VALUE environment lists (an image config's Env, run's
// -e, a build's ENV and ARGs): keys are compared whole, a later value
// replaces an earlier one in its place, and order is kept otherwise.

// MergeEnv returns base with each KEY=VALUE of over replacing base's KEY or
// appended, keeping base's order. MergeEnv(nil, env) is env with each key
// once, at its first place, with its last value.
func MergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	idx := map[string]int{}
	for _, list := range [][]string{base, over} {
		for _, kv := range list {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// SetEnv returns env with k set to v: replacing k's value in its place,
// else appended. env's array may be reused.
func SetEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if ek, _, _ := strings.Cut(kv, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// LookupEnv returns k's value in env (the first, as a shell's environ
// lookup does) and whether it is there.
func LookupEnv(env []string, k string) (string, bool) {
	for _, kv := range env {
		if ek, v, _ := strings.Cut(kv, "="); ek == k {
			return v, true
		}
	}
	return "", false
}
