# Fallback minifier of the Web SDK when terser (npm) is not installed:
# drops comment lines and indentation. Safe because afftok.js keeps one
# statement per line and never starts a line inside a string or regex.
/^[[:space:]]*\/\*!/b
/^[[:space:]]*\/\*.*\*\/[[:space:]]*$/d
/^[[:space:]]*\/\*/,/\*\//d
/^[[:space:]]*\/\//d
s/^[[:space:]]*//
s/[[:space:]]*$//
/^$/d
