{
  "targets": [{
    "target_name": "fuse",
    "include_dirs": [
      "<!(node -e \"require('napi-macros')\")",
      "<!(node -e \"require('fuse-shared-library/include')\")",
    ],
    "libraries": [
      "<!(node -e \"require('fuse-shared-library/lib')\")",
    ],
    "sources": [
      "fuse-native.c"
    ],
    # s3mount: the numbers JavaScript and C must agree on, from one file (s3mount-abi.json)
    "defines": [
      "S3M_ABI_VERSION=<!(node -p \"require('./s3mount-abi.json').version\")",
      "S3M_STAT_INTS=<!(node -p \"require('./s3mount-abi.json').statInts\")",
      "S3M_HALF_BITS=<!(node -p \"require('./s3mount-abi.json').halfBits\")",
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
