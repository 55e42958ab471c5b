# Sourced by setup.sh and test.sh: which libtorch to build against
# (SORAGEN_TORCH: auto, debian or pytorch; setup.sh explains them) and the
# build tree that goes with it (SORAGEN_BUILD_DIR overrides it).
# Sets torch_choice and build_dir.
torch_choice=${SORAGEN_TORCH:-auto}
if [ "$torch_choice" = auto ]; then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    torch_choice=pytorch
  else
    torch_choice=debian
  fi
fi
case $torch_choice in
  debian) default_build_dir=build ;;
  pytorch) default_build_dir=build-cuda ;;
  *)
    printf '%s\n' "SORAGEN_TORCH='$torch_choice': expected auto, debian or pytorch" >&2
    exit 2
    ;;
esac
build_dir=${SORAGEN_BUILD_DIR:-$default_build_dir}
