#!/bin/sh
# POSIX workload for the VM tests, run by busybox sh inside the guest on the
# virtiofs mount (/mnt). Every step prints "<label>: <value>" lines whose
# values depend only on file-system behaviour: no inode numbers, no clock
# times except the ones set here, listings sorted. The same run against two
# backends must print the same lines; a diff names the step that differs.
#
# It leaves a tree under /mnt/w that the host side checks afterwards
# (test/vm/harness.ts, verifyHostTree): keep the two in step.
set -u
umask 022
export TZ=UTC0 LC_ALL=C

say() { printf '%s: %s\n' "$1" "$2"; }
# fails LABEL CMD...: runs a command that must fail; prints its status and the
# error text (what follows the last ": " of its last message line).
fails() {
  label=$1
  shift
  msg=$("$@" 2>&1 >/dev/null)
  rc=$?
  msg=$(printf '%s\n' "$msg" | tail -n 1)
  say "$label" "rc=$rc ${msg##*: }"
}
yesno() { if "$@"; then echo yes; else echo no; fi; }
zeros_md5() { dd if=/dev/zero bs="$1" count=1 2>/dev/null | md5sum | cut -d' ' -f1; }

W=/mnt/w
rm -rf "$W"
mkdir "$W" && cd "$W" || exit 1

# --- mount and statfs: only fields that do not depend on free space
say mount "$(awk '$2 == "/mnt" { print $1, $3 }' /proc/mounts)"
say statfs "$(stat -f -c 'type=%t bsize=%s frsize=%S namemax=%l' /mnt)"

# --- create, write, read, append, overwrite, truncate
printf 'hello\n' >f1
say create "$(cat f1) size=$(stat -c %s f1) mode=$(stat -c %a f1) owner=$(stat -c %u:%g f1)"
printf 'world\n' >>f1
say append "$(tr '\n' '|' <f1) size=$(stat -c %s f1)"
printf 'J' | dd of=f1 bs=1 seek=0 conv=notrunc 2>/dev/null
say overwrite "$(head -n 1 f1)"
truncate -s 3 f1
say truncate.shrink "$(cat f1) size=$(stat -c %s f1)"
truncate -s 8 f1
say truncate.grow "$(xxd -p f1) size=$(stat -c %s f1)"
: >f1
say truncate.zero "size=$(stat -c %s f1)"
printf 'final\n' >f1
say rewrite "$(cat f1)"
dd if=/dev/zero bs=1 count=0 seek=0 of=f0 2>/dev/null
say empty "size=$(stat -c %s f0) blocks=$(stat -c %b f0)"

# --- sparse files: allocation below the size, holes read as zeros
truncate -s 16M sparse
printf 'DATA' | dd of=sparse bs=4096 seek=2048 conv=notrunc 2>/dev/null
size=$(stat -c %s sparse)
blocks=$(stat -c %b sparse)
say sparse.size "$size"
say sparse.allocated_below_size "$(yesno [ $((blocks * 512)) -lt $((size / 4)) ])"
say sparse.hole_head_zero "$(yesno [ "$(dd if=sparse bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" = "$(zeros_md5 4096)" ])"
say sparse.hole_tail_zero "$(yesno [ "$(dd if=sparse bs=4096 skip=4095 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" = "$(zeros_md5 4096)" ])"
say sparse.data "$(dd if=sparse bs=4096 skip=2048 count=1 2>/dev/null | head -c 4)"
say sparse.md5 "$(md5sum <sparse | cut -d' ' -f1)"
truncate -s 20M sparse
say sparse.grown "size=$(stat -c %s sparse) tail_zero=$(yesno [ "$(tail -c 4096 sparse | md5sum | cut -d' ' -f1)" = "$(zeros_md5 4096)" ])"

# --- rename: over a file, of a directory, over an empty directory
printf 'a\n' >ra
printf 'b\n' >rb
mv -f ra rb
say rename.over_file "rb=$(cat rb) ra_exists=$(yesno [ -e ra ])"
mkdir -p rd/sub
printf 'x\n' >rd/sub/f
mv rd rd2
say rename.dir "rd_exists=$(yesno [ -e rd ]) rd2/sub/f=$(cat rd2/sub/f)"
mkdir re_src re_dst
printf 'y\n' >re_src/g
mv -T re_src re_dst
say rename.over_empty_dir "src_exists=$(yesno [ -e re_src ]) dst/g=$(cat re_dst/g)"

# --- hard links
printf 'h\n' >h1
ln h1 h2
ln h1 h3
say link.nlink "$(stat -c %h h1)"
rm h2
printf 'h3\n' >>h3
say link.after_unlink "nlink=$(stat -c %h h1) content=$(tr '\n' '|' <h1) same_inode=$(yesno [ "$(stat -c %i h1)" = "$(stat -c %i h3)" ])"

# --- symlinks: relative, absolute, dangling, in a subdirectory, loop
ln -s f1 s_rel
ln -s /mnt/w/f1 s_abs
ln -s nowhere s_dangling
mkdir sd
ln -s ../f1 sd/up
say symlink.readlink "$(readlink s_rel) $(readlink s_abs) $(readlink s_dangling) $(readlink sd/up)"
say symlink.type "$(stat -c %F s_rel) size=$(stat -c %s s_abs) target_size=$(stat -L -c %s s_rel)"
say symlink.follow "$(cat s_rel) $(cat s_abs) $(cat sd/up)"
fails symlink.dangling cat s_dangling
ln -s loop_b loop_a
ln -s loop_a loop_b
fails symlink.loop cat loop_a

# --- modes, owners, set-id bits
printf 'm\n' >m1
chmod 640 m1
say chmod.640 "$(stat -c %a m1)"
chmod 4755 m1
say chmod.setuid "$(stat -c %a m1)"
chmod 2755 m1
say chmod.setgid "$(stat -c %a m1)"
chmod 6755 m1
chown 1234:5678 m1
say chown "owner=$(stat -c %u:%g m1) mode_after_chown=$(stat -c %a m1)"
chmod 4750 m1
say chmod.final "$(stat -c %a m1)"
mkdir sticky
chmod 1777 sticky
say chmod.sticky_dir "$(stat -c %a sticky)"
mkdir sgid
chmod 2775 sgid
chown 0:4321 sgid
: >sgid/child
mkdir sgid/subdir
say setgid_dir.inherit "file_gid=$(stat -c %g sgid/child) subdir=$(stat -c '%g %a' sgid/subdir)"
chown -h 7:8 s_abs
say chown.symlink "link=$(stat -c %u:%g s_abs) target=$(stat -L -c %u:%g s_abs)"

# --- times set here (touch -d), seconds since the epoch
printf 't\n' >t1
touch -d '2001-02-03 04:05:06' t1
say utimes.both "atime=$(stat -c %X t1) mtime=$(stat -c %Y t1)"
touch -a -d '1999-12-31 23:59:59' t1
say utimes.atime_only "atime=$(stat -c %X t1) mtime=$(stat -c %Y t1)"
touch -m -d '2020-06-07 08:09:10' t1
say utimes.mtime_only "atime=$(stat -c %X t1) mtime=$(stat -c %Y t1)"
mkdir tdir
touch -d '2010-01-01 00:00:00' tdir
say utimes.dir "$(stat -c %Y tdir)"
: >tdir/new
say utimes.dir_changed_by_create "$(yesno [ "$(stat -c %Y tdir)" != 1262304000 ])"
touch -h -d '2002-02-02 02:02:02' s_rel
say utimes.symlink_nofollow "link=$(stat -c %Y s_rel) target_unchanged=$(yesno [ "$(stat -L -c %Y s_rel)" != 1012615322 ])"

# --- extended attributes (getfattr/setfattr from Debian's attr package)
printf 'x\n' >x1
setfattr -n user.color -v blue x1
setfattr -n user.bin -v 0x0102ff00 x1
setfattr -n user.empty x1
say xattr.get "$(getfattr --only-values -n user.color x1)"
say xattr.list "$(getfattr --absolute-names -d -e hex -m '^user\.' x1 | grep -v '^#' | grep . | sort | tr '\n' ' ')"
setfattr -n user.color -v red x1
say xattr.replace "$(getfattr --only-values -n user.color x1)"
setfattr -x user.empty x1
say xattr.remove "$(getfattr --absolute-names -d -e hex -m '^user\.' x1 | grep -v '^#' | grep . | sort | tr '\n' ' ')"
fails xattr.missing getfattr -n user.nothere x1
fails xattr.remove_missing setfattr -x user.nothere x1
mkdir xd
setfattr -n user.dirattr -v d xd
say xattr.dir "$(getfattr --only-values -n user.dirattr xd)"
fails xattr.on_symlink setfattr -h -n user.a -v 1 s_rel
big=$(head -c 3000 /dev/zero | tr '\0' 'v')
setfattr -n user.big -v "$big" x1
say xattr.big "$(getfattr --only-values -n user.big x1 | wc -c)"

# --- special files
mkfifo p1
say fifo.stat "$(stat -c '%F %a' p1)"
(printf 'through the pipe\n' >p1) &
say fifo.read "$(cat p1)"
wait
mknod c1 c 1 3
say mknod.char "$(stat -c '%F major=%t minor=%T' c1)"
mknod b1 b 7 0
say mknod.block "$(stat -c '%F major=%t minor=%T' b1)"
say mknod.char_read "$(head -c 16 c1 | wc -c)"

# --- a directory with 3000 entries
mkdir many
i=0
while [ $i -lt 3000 ]; do
  : >"many/f$((10000 + i))"
  i=$((i + 1))
done
say many.count "$(ls many | wc -l)"
say many.first "$(ls many | sort | head -n 3 | tr '\n' ' ')"
say many.last "$(ls many | sort | tail -n 2 | tr '\n' ' ')"
say many.lookup "$(yesno [ -e many/f11234 ]) $(yesno [ -e many/f13000 ])"
say many.find "$(find many -type f | wc -l)"
rm many/f10000 many/f12999
say many.after_rm "$(ls many | wc -l)"

# --- rm -rf of a tree
mkdir -p tree/a/b/c tree/d
i=0
while [ $i -lt 50 ]; do
  printf '%s\n' "$i" >"tree/a/b/c/n$i"
  printf '%s\n' "$i" >"tree/d/m$i"
  i=$((i + 1))
done
ln -s ../d tree/a/link
say tree.count "$(find tree | wc -l)"
rm -rf tree
say tree.removed "$(yesno [ ! -e tree ])"

# --- an open file after unlink
printf 'still here\n' >ul
exec 3<ul
rm ul
say unlinked.exists "$(yesno [ -e ul ])"
say unlinked.nlink "$(stat -L -c %h /proc/$$/fd/3)"
say unlinked.read "$(cat <&3)"
exec 3<&-
printf 'rw\n' >ul2
exec 4<>ul2
rm ul2
printf 'appended\n' >&4
say unlinked.write "$(stat -L -c %s /proc/$$/fd/4)"
exec 4>&-

# --- 32 MiB files: written through the page cache, copied, patched, read back cold.
# The content repeats a 600000-byte unit ("00000\n" to "99999\n"), a period
# that no misplaced 4 KiB-aligned chunk within 32 MiB can hide behind.
seq -w 0 99999 >/tmp/unit
i=0
while [ $i -lt 56 ]; do
  cat /tmp/unit
  i=$((i + 1))
done | dd of=big1 bs=1M count=32 iflag=fullblock 2>/dev/null
say big1.size "$(stat -c %s big1)"
say big1.md5 "$(md5sum big1 | cut -d' ' -f1)"
cp big1 big2
printf 'X' | dd of=big2 bs=1 seek=20000000 conv=notrunc 2>/dev/null
say big2.sha256 "$(sha256sum big2 | cut -d' ' -f1)"
say big1.slice "$(dd if=big1 bs=6 skip=3000017 count=2 2>/dev/null | tr '\n' ' ')"
sync
echo 3 >/proc/sys/vm/drop_caches
say big1.cold_sha256 "$(sha256sum big1 | cut -d' ' -f1)"
say big2.cold_md5 "$(md5sum big2 | cut -d' ' -f1)"
dd if=big1 of=direct bs=1M count=4 iflag=direct oflag=direct 2>/dev/null
say direct_io "size=$(stat -c %s direct) md5=$(md5sum <direct | cut -d' ' -f1)"

# --- error cases: the message text of each errno
mkdir d1
fails EEXIST.mkdir mkdir d1
fails EEXIST.symlink ln -s x s_rel
fails EEXIST.link ln f1 h1
fails EEXIST.excl_create sh -c 'set -C; echo x >f1'
mkdir -p ne_src ne_dst/x
fails ENOTEMPTY.rmdir rmdir rd2
fails ENOTEMPTY.rename mv -T ne_src ne_dst
fails ENOENT.open cat nothere
fails ENOENT.unlink rm nothere
fails ENOENT.parent mkdir nothere/x
fails ENOTDIR.mkdir mkdir f1/x
fails EISDIR.open sh -c 'echo x >d1'
fails EINVAL.rename_into_self mv d1 d1/inside
long=$(head -c 256 /dev/zero | tr '\0' 'n')
fails ENAMETOOLONG.create touch "$long"
: >"${long%n}"
say name255 "$(ls | grep -c '^nnnnnnnnnn')"
rm "${long%n}"

# --- what is left (the host side checks this tree)
say listing "$(ls -A | sort | tr '\n' ' ')"
say total_entries "$(find . | wc -l)"
cd /
say done "ok"
