// Loads the binding that `npm install` / `npm rebuild fuse-native` built from this
// directory's source (binding.gyp). There is no prebuilt fallback: a binding that is
// missing or does not load is an error naming its cause, never a silent downgrade.
const path = require('path')

const file = path.join(__dirname, 'build', 'Release', 'fuse.node')

function load () {
  try {
    return require(file)
  } catch (err) {
    const why = err && err.code === 'MODULE_NOT_FOUND' ? 'it was never built' : String((err && err.message) || err).split('\n')[0]
    throw new Error(`cannot load fuse-native's binding ${file}: ${why} (build it with \`npm rebuild fuse-native\`: it needs a C compiler, make and python3, which scripts/setup installs)`)
  }
}

module.exports = load()
