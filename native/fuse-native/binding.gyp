{
  # s3mount: what both bindings are compiled with. The numbers JavaScript and C must
  # agree on come from one file (s3mount-abi.json).
  "target_defaults": {
    "include_dirs": [
      "<!(node -e \"require('napi-macros')\")",
      "<!(node -e \"require('fuse-shared-library/include')\")",
    ],
    "libraries": [
      "<!(node -e \"require('fuse-shared-library/lib')\")",
    ],
    "defines": [
      "S3M_ABI_VERSION=<!(node -p \"require('./s3mount-abi.json').version\")",
      "S3M_STAT_INTS=<!(node -p \"require('./s3mount-abi.json').statInts\")",
      "S3M_HALF_BITS=<!(node -p \"require('./s3mount-abi.json').halfBits\")",
      "S3M_STAT_MODE=<!(node -p \"require('./s3mount-abi.json').statFields.mode\")",
      "S3M_MAX_FILE_BYTES=<!(node -p \"require('./s3mount-abi.json').maxFileBytes\")",
      "S3M_DISK_HEADER=<!(node -p \"require('./s3mount-abi.json').diskHeaderBytes\")",
    ],
    'xcode_settings': {
      'OTHER_CFLAGS': [
        '-g',
        '-O3',
        '-Wall'
      ]
    },
    'cflags': [
      '-g',
      '-O3',
      '-Wall'
    ],
  },
  "targets": [{
    "target_name": "fuse",
    "sources": [
      "fuse-native.c"
    ],
  }, {
    # s3mount: the same source with the test entry points of s3m-test.h, small tables
    # and clocks the tests set (test/unit/native/); never loaded by s3mount itself
    "target_name": "s3m_test",
    "sources": [
      "fuse-native.c"
    ],
    "defines": [
      "S3M_TEST=1",
      "S3M_ATTR_MAX=64",
      "S3M_FILES=16",
      "S3M_SLOTS=16",
      "S3M_DISK_MAX=8",
      "S3M_WFILES=8",
      "S3M_DIRS=8",
    ],
  }, {
    "target_name": "postinstall",
    "type": "none",
    "dependencies": ["fuse"],
    "copies": [{
      "destination": "build/Release",
      "files": [ "<!(node -e \"require('fuse-shared-library/lib')\")" ],
    }]
  }]
}
