#!/usr/bin/env bash
# Part of `make install`: installs Debian's dataset-fashion-mnist (the four Fashion-MNIST IDX files, 30 MB) where
# apt-get is available and permitted (root, or passwordless sudo); otherwise prints one line saying what to do.
# It never fails: the embedded digits need nothing, and CI must install on machines without the package.
dir=/usr/share/datasets/fashion-mnist      # dd_nb.data.FASHION_MNIST_DIR
have_files() {
  local f
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$dir/$f.gz" ] || [ -f "$dir/$f" ] || return 1
  done
}
hint="fashion-mnist not installed: run 'sudo apt-get install dataset-fashion-mnist', or pass --root <folder> holding its four IDX files (digits needs nothing)"
have_files && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "$hint"; exit 0; }
if [ "$(id -u)" = 0 ]; then as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n)
else echo "$hint"; exit 0; fi
apt() { timeout "$1" "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${@:2}" >/dev/null 2>&1; }
# try the package lists already there first; refresh them only when that fails (a fresh container has none)
if apt 120 install -y -q dataset-fashion-mnist || { apt 120 update -q && apt 120 install -y -q dataset-fashion-mnist; }; then
  have_files && { echo "fashion-mnist: installed Debian's dataset-fashion-mnist in $dir"; exit 0; }
fi
echo "$hint (apt-get install dataset-fashion-mnist failed here)"
exit 0
