module github.com/podvm-migrate/podvm-migrate

go 1.26

require libvirt.org/go/libvirt v1.11010.0
