package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// userHZ is the unit of the CPU times in /proc/PID/stat.
const userHZ = 100

func readProcess(pid int) (ProcessSample, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcessSample{}, err
	}
	ticks, err := parseProcStat(string(stat))
	if err != nil {
		return ProcessSample{}, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcessSample{}, err
	}
	return ProcessSample{CPUSeconds: float64(ticks) / userHZ, RSSBytes: statusKB(string(status), "VmRSS:"),
		HWMBytes: statusKB(string(status), "VmHWM:")}, nil
}

// File system magic numbers (statfs f_type) worth naming.
var fsNames = map[int64]string{
	0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x794C7630: "overlay",
	0x6969: "nfs", 0x2FC12FC1: "zfs", 0xF2F52010: "f2fs", 0xFF534D42: "cifs", 0xFE534D42: "smb2",
	0x65735546: "fuse", 0x858458F6: "ramfs",
}

// storageOf describes the file system and block device holding dir.
func storageOf(dir string) string {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return ""
	}
	name, ok := fsNames[int64(fs.Type)]
	if !ok {
		name = fmt.Sprintf("fs 0x%x", fs.Type)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return name
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	if major == 0 {
		return name // no block device (tmpfs, overlay, btrfs subvolumes)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	target, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return name
	}
	rot, err := os.ReadFile(filepath.Join(target, "queue", "rotational"))
	if err != nil { // a partition: the disk's queue is its parent's
		rot, _ = os.ReadFile(filepath.Join(filepath.Dir(target), "queue", "rotational"))
	}
	desc := name + " on " + filepath.Base(target)
	switch strings.TrimSpace(string(rot)) {
	case "0":
		desc += " (non-rotational)"
	case "1":
		desc += " (rotational)"
	}
	return desc
}
