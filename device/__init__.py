"""Getting a .bin onto an Android phone for FUTO Keyboard, over adb."""
