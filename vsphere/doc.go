// Package vsphere is the one home of everything that talks to vCenter or
// ESXi, with govmomi:
//
//   - the session: govc-compatible settings (Config, ConfigFromEnv), TLS
//     verified by CAs, a pinned thumbprint or known hosts, and log-in
//     errors that say what to do (Connect);
//   - the inventory pass: one ContainerView and paged RetrieveProperties
//     calls, as a discover.Source (Source);
//   - datastore HTTP access: a "[datastore] path" as a /folder/ URL read in
//     the session (Conn.DatastoreURL, Conn.HTTPClient);
//   - NFC export leases: a powered-off VM's disks served as streamOptimized
//     VMDKs (Conn.OpenExport);
//   - power operations: guest shutdown, then power off (Conn.PowerOff).
//
// Conn implements convert.Opener, so convert reads "[datastore] path" and
// "vm:NAME/DISK" sources without linking govmomi itself.
package vsphere
