package cli

import (
	"slices"

	"github.com/spf13/cobra"
)

// commonVerbs are the verbs "strata --help" lists first, in the order
// docker 28's "Common Commands:" lists them (less the ones Strata lacks).
var commonVerbs = []string{"run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"}

// The root's verb groups, as docker 28's help shows them.
const (
	groupCommon     = "common"
	groupManagement = "management"
	groupOther      = "other"
)

// groupVerbs sorts the root's verbs into docker's three groups: the common
// ones first, then the groups of verbs (image, container, system…), then
// the rest. A verb added later falls into a group by its shape (has verbs
// of its own, or not) without being listed here.
func groupVerbs(root *cobra.Command) {
	root.AddGroup(
		&cobra.Group{ID: groupCommon, Title: "Common Commands:"},
		&cobra.Group{ID: groupManagement, Title: "Management Commands:"},
		&cobra.Group{ID: groupOther, Title: "Commands:"},
	)
	root.SetHelpCommandGroupID(groupOther)
	root.SetCompletionCommandGroupID(groupOther)
	for _, cmd := range root.Commands() {
		switch {
		case slices.Contains(commonVerbs, cmd.Name()):
			cmd.GroupID = groupCommon
		case cmd.HasSubCommands():
			cmd.GroupID = groupManagement
		default:
			cmd.GroupID = groupOther
		}
	}
	cobra.AddTemplateFunc("groupOrder", groupOrder)
	root.SetUsageTemplate(usageTemplate)
}

// groupOrder lists a group's verbs: the common ones in commonVerbs' order
// (run first, as docker's), the others alphabetically as cobra keeps them.
func groupOrder(cmds []*cobra.Command, id string) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range cmds {
		if c.GroupID == id {
			out = append(out, c)
		}
	}
	if id == groupCommon {
		slices.SortStableFunc(out, func(a, b *cobra.Command) int {
			return slices.Index(commonVerbs, a.Name()) - slices.Index(commonVerbs, b.Name())
		})
	}
	return out
}

// usageTemplate is cobra's usage text with the groups listed through
// groupOrder, and a group of verbs shown as "strata image [command]" alone
// (dockerUsage makes groups runnable, to refuse unknown verbs, which would
// add a bare "strata image" line). Only the root has groups; every other
// command's usage reads as cobra's default.
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Available Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range (groupOrder $cmds $group.ID)}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasHelpSubCommands}}

Additional help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`
