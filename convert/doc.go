// Package convert copies virtual disks between formats without temporary
// copies: a block.Image per source format (convert/vmdk, convert/qcow2,
// convert/raw), a block.Writer per target (raw, qcow2) and a parallel,
// bounded-memory, zero-skipping, checksumming engine between them (Copy).
// Disk converts one file to another; Open detects a source's format.
package convert
