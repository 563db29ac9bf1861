package plugin

import "strings"

// MarkdownCell escapes text for one cell of a Markdown table: a `|` would
// end the cell, so it is written `\|`, and a line break would end the row,
// so it becomes a space. Other Markdown (emphasis, code spans) is kept.
func MarkdownCell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
