# Sourced by the scripts that compare two versions (ab.sh, ab_get.sh) once they have set proj, before, after
# (each a git revision of this repository or a directory holding a checkout) and work_prefix. Sets:
#   work                 this comparison's directory, removed on exit
#   dir_before dir_after the two checkouts (a revision is checked out in a worktree under $work, removed on exit)
#   order                the runs' order for $rounds rounds: after before before after after before ...
# On exit it calls `on_exit` first, if the script defines it (to stop a server it started).
work=$(mktemp -d "${TMPDIR:-/tmp}/$work_prefix-XXXX")
trees=()
cleanup() {
  if declare -F on_exit >/dev/null; then on_exit; fi
  for t in "${trees[@]}"; do git -C "$proj" worktree remove --force "$t" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

checkout() { # revision or directory -> $checked (a directory)
  if [[ -d $1 ]]; then checked=$(cd "$1" && pwd); return; fi
  checked="$work/tree-$(git -C "$proj" rev-parse --short "$1^{commit}")"
  [[ -d $checked ]] || { git -C "$proj" worktree add -q --detach "$checked" "$1" && trees+=("$checked"); }
}
checkout "$before"; dir_before=$checked
checkout "$after"; dir_after=$checked
[[ -f $dir_before/pyproject.toml && -f $dir_after/pyproject.toml ]] || { echo "not a checkout"; exit 2; }

order=()
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then order+=(after before); else order+=(before after); fi
done
