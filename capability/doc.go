// Package capability defines what a FemtoClaw capability ("Claw") is, the
// immutable registry of them, argument-schema compilation, and the
// built-in capabilities noop, echo, shell, fs.read and http.get.
package capability
