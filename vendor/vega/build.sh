#!/usr/bin/env bash
# Rebuild offline.html: the HTML template of `dvc plots show` (.dvc/config plots.html_template) with the
# minified vega, vega-lite and vega-embed builds inlined, so the plots page draws with no network.
# Needs npm and the npm registry; run from anywhere: bash vendor/vega/build.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
packages=(vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0)  # vega-lite 5 = the schema of DVC's templates
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n    {refresh_tag}\n    <meta charset="utf-8">\n    <title>DVC Plot</title>\n'
  for pkg in "${packages[@]}"; do
    name=${pkg%@*}
    tar -xzf "$work/$name-${pkg#*@}.tgz" -C "$work" "package/build/$name.min.js"
    if grep -q '</script' "$work/package/build/$name.min.js"; then echo "$pkg: cannot be inlined (</script in it)" >&2; exit 1; fi
    printf '    <script type="text/javascript">/* %s, BSD-3-Clause (vendor/vega/LICENSE) */\n' "$pkg"
    cat "$work/package/build/$name.min.js"
    printf '\n    </script>\n'
  done
  printf '    <style>\n        table {\n            border-spacing: 15px;\n        }\n    </style>\n</head>\n<body>\n    {plot_divs}\n</body>\n</html>\n'
} > "$here/offline.html.tmp"
mv "$here/offline.html.tmp" "$here/offline.html"
(cd "$here" && sha256sum offline.html)
