/**
 * Drag-and-drop of files and folders, shared by the page's sections: the
 * dropped entries walked recursively (a folder's files with their paths).
 */

/** A dropped file, with its path under the drop (`FileSystemEntry.fullPath`) and whether it came inside a folder. */
export interface DroppedFile {
  path: string;
  file: File;
  inFolder: boolean;
}

/** Every file under `entry` (itself when it is a file). */
async function walk(entry: FileSystemEntry, inFolder: boolean, out: DroppedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail));
    out.push({ path: entry.fullPath, file, inFolder });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, true, out);
    }
  }
}

/**
 * Makes `zone` take drops: highlights it (class `over`) while dragging, and
 * calls `onFiles` with every dropped file (folders walked; the plain
 * `dataTransfer.files` when the browser gives no entries).
 */
export function dropZone(zone: HTMLElement, onFiles: (files: DroppedFile[]) => void): void {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    // The entries must be taken synchronously, before the first await.
    const entries = Array.from(e.dataTransfer?.items ?? [], (item) => item.webkitGetAsEntry()).filter((x): x is FileSystemEntry => x !== null);
    const plain = Array.from(e.dataTransfer?.files ?? [], (file) => ({ path: file.name, file, inFolder: false }));
    void (async () => {
      const out: DroppedFile[] = [];
      for (const entry of entries) await walk(entry, false, out);
      onFiles(out.length > 0 ? out : plain);
    })();
  });
}
