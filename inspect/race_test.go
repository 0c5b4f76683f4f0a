//go:build race

package inspect

// raceEnabled is true under -race, whose shadow memory and slowdown make
// RSS and throughput figures meaningless.
const raceEnabled = true
