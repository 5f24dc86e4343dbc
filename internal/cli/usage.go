package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// dockerUsage gives every command in the tree the docker CLI's answers to
// a mistyped command line, which cobra words differently:
//
//   - an unknown flag exits 125 (docker's status for its own failures), with
//     "See 'strata run --help'.";
//   - a wrong argument count says `"strata run" requires at least 1
//     argument.`, the See line and the usage line, and exits 1;
//   - an unknown verb under a group (strata image pul) exits 1 instead of
//     printing the group's help and succeeding, and no "did you mean"
//     guesses are offered (docker offers none; cobra's edit distance pointed
//     top at stop and port at export).
//
// It walks the tree after every verb is added, so verbs added later get
// the same treatment without remembering to.
func dockerUsage(root *cobra.Command) {
	root.DisableSuggestions = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &ExitError{Code: 125, Err: fmt.Errorf("%v\nSee '%s --help'.", err, cmd.CommandPath())}
	})
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.DisableFlagsInUseLine = true
		switch {
		case cmd.HasSubCommands() && !cmd.Runnable():
			cmd.Args = unknownSubcommand
			cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		case cmd.Args != nil:
			cmd.Args = dockerArgs(cmd.Args)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownSubcommand refuses any argument to a group: it is a verb the
// group does not have.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("unknown command %q for %q\nSee '%s --help'.", args[0], cmd.CommandPath(), cmd.CommandPath())
}

// cobra's argument-count messages, and the counts they carry.
var (
	argsMinRe   = regexp.MustCompile(`^requires at least (\d+) arg\(s\)`)
	argsMaxRe   = regexp.MustCompile(`^accepts at most (\d+) arg\(s\)`)
	argsExactRe = regexp.MustCompile(`^accepts (\d+) arg\(s\)`)
	argsRangeRe = regexp.MustCompile(`^accepts between (\d+) and (\d+) arg\(s\)`)
	argsNoneRe  = regexp.MustCompile(`^unknown command `)
)

// dockerArgs rewords a cobra argument validator's error as docker's
// cli.RequiresMinArgs and friends do. Validators of our own, whose message
// is none of cobra's, pass through unchanged.
func dockerArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := validate(cmd, args)
		if err == nil {
			return nil
		}
		var what string
		msg := err.Error()
		if m := argsRangeRe.FindStringSubmatch(msg); m != nil {
			what = fmt.Sprintf("requires at least %s and at most %s", m[1], arguments(m[2]))
		} else if m := argsMinRe.FindStringSubmatch(msg); m != nil {
			what = "requires at least " + arguments(m[1])
		} else if m := argsMaxRe.FindStringSubmatch(msg); m != nil {
			what = "requires at most " + arguments(m[1])
		} else if m := argsExactRe.FindStringSubmatch(msg); m != nil {
			what = "requires exactly " + arguments(m[1])
		} else if argsNoneRe.MatchString(msg) {
			what = "accepts no arguments"
		} else {
			return err
		}
		return errors.New(usageMessage(cmd, fmt.Sprintf("%q %s.", cmd.CommandPath(), what)))
	}
}

// usageMessage is docker's shape for a command line it refuses: the
// problem, the See line, the usage line and the command's summary.
func usageMessage(cmd *cobra.Command, problem string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nSee '%s --help'.\n\nUsage:  %s", problem, cmd.CommandPath(), cmd.UseLine())
	if cmd.Short != "" {
		fmt.Fprintf(&b, "\n\n%s", cmd.Short)
	}
	return b.String()
}

func arguments(n string) string {
	if i, _ := strconv.Atoi(n); i == 1 {
		return "1 argument"
	}
	return n + " arguments"
}
