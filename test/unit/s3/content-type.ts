// Content-Type from a key's extension: known types, case, dot-files, directory markers.
import t from 'tap';
import { contentTypeFor } from '../../../src/s3/content-type.js';

t.test('contentTypeFor', async (t) => {
  t.equal(contentTypeFor('a/b/page.html'), 'text/html');
  t.equal(contentTypeFor('IMG.JPG'), 'image/jpeg', 'any case');
  t.equal(contentTypeFor('x.tar.gz'), 'application/gzip', 'the last extension');
  t.equal(contentTypeFor('archive.unknownext'), undefined, 'unknown');
  t.equal(contentTypeFor('README'), undefined, 'none');
  t.equal(contentTypeFor('dir/.bashrc'), undefined, 'a dot-file has no extension');
  t.equal(contentTypeFor('name.'), undefined, 'a trailing dot');
  t.equal(contentTypeFor('dir.txt/'), undefined, 'a directory marker');
  t.equal(contentTypeFor('d.v1/file'), undefined, 'a dot in a directory name is not an extension');
});
