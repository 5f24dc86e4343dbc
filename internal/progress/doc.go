// Package progress carries the progress of a pull or push from the engine
// to the terminal.
//
// Libraries do not print: the engine emits Events (one per layer state
// change, and byte counts while bytes move) to a Reporter. The CLI renders
// them with a Printer, as the docker CLI does: on a terminal one line per
// layer, redrawn in place with a bar
//
//	9f86d081884c: Downloading [=========>                              ]  12.3MB/50MB
//
// and, when the output is not a terminal, a plain line per state change
// only (no byte counts), so logs stay short and diffable.
//
// A build reports StepEvents instead (a step started, printed a line, was
// cached, finished, failed, was canceled), which a StepDisplay draws as
// BuildKit's terminal display (steps.go): a header, a line per step with
// its time, a running step's last output lines under it, redrawn in place
// by a ticker at most ten times a second, and the final state once at the
// end. The build's plain lines ("#3 DONE 1.2s") are the build package's
// own; the display never writes them.
package progress
