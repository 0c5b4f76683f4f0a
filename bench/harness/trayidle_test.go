//go:build linux

package harness

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// treeCPU counts the time of a child that has exited and been reaped: it
// is what the tray's short-lived gsettings and kreadconfig5 runs cost.
func TestTreeCPUCountsReapedChildren(t *testing.T) {
	// The subshell burns CPU and exits; the shell reaps it and sleeps.
	cmd := exec.Command("sh", "-c", `( i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done ); exec sleep 60`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// exec replaces the shell with sleep once the subshell is reaped.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); string(comm) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the busy subshell did not finish within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := treeCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// 300,000 rounds of shell arithmetic take well over 50 ms of CPU.
	if got < 50*time.Millisecond {
		t.Fatalf("treeCPU = %v after a child used CPU and was reaped; want its time counted", got)
	}
}
