// Package docscheck holds no code: its tests keep README.md and the pages
// in docs/ linked to each other, so a page cannot be added unlisted, a link
// cannot point at a moved file or section, and the README stays short
// enough for a newcomer to finish.
package docscheck
