// Package convert copies virtual disks between formats without temporary
// copies: a block.Image per source format (convert/vmdk, convert/qcow2,
// convert/raw), a block.Writer per target (raw, qcow2) and a parallel,
// bounded-memory, zero-skipping, checksumming engine between them (Copy).
// Disk converts one disk to another; Open detects a source's format.
//
// OpenSource opens any disksource.Source: local files and http(s) URLs by
// itself (convert/remote), "[datastore] path" and "vm:NAME/DISK" through
// the Opener the caller gives it (the vsphere package's Conn). convert holds
// no vCenter code.
package convert
