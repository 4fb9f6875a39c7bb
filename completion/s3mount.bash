# bash completion for s3mount. Generated from src/config/options.ts by scripts/gen-config-doc.
_s3mount() {
  local cur prev
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    --passwd-file|--cache-dir|--staging-dir|--log-file)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --expires)
      COMPREPLY=($(compgen -W "3600 30m 12h 7d" -- "$cur")); return ;;
    --log-level)
      COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")); return ;;
    --endpoint|--region|--keys-command|--keys-command-timeout|--passwd-file|--profile|--ca-bundle|--max-requests|--request-timeout|--connect-timeout|--idle-timeout|--uid|--gid|--file-mode|--dir-mode|--memory-limit|--cache-size|--cache-dir|--cache-dir-size|--block-size|--read-ahead|--request-size|--small-file-lookahead|--metadata-ttl|--negative-ttl|--recursive-list|--staging-dir|--part-size|--upload-concurrency|--copy-threshold|--log-level|--log-file)
      return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "--endpoint --region --path-style --no-path-style --keys-command --keys-command-timeout --passwd-file --profile --ca-bundle --max-requests --request-timeout --connect-timeout --idle-timeout --foreground -f --read-only --allow-other --uid --gid --file-mode --dir-mode --native --no-native --memory-limit --cache-size --cache-dir --cache-dir-size --block-size --read-ahead --request-size --small-file-lookahead --metadata-ttl --negative-ttl --recursive-list --direct-io --object-metadata --staging-dir --write-back --part-size --upload-concurrency --copy-threshold --log-level --log-file --help --version" -- "$cur"))
  elif ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "unmount run status sync share" -- "$cur"))
  elif [[ ${COMP_WORDS[1]} == share || ${COMP_WORDS[1]} == sync ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -d -- "$cur"))
  fi
}
complete -F _s3mount s3mount
